module github.com/resilient-http/resilient/bench

go 1.26.0

require github.com/resilient-http/resilient v0.0.0

replace github.com/resilient-http/resilient => ..
