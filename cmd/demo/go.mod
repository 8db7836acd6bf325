module github.com/resilient-http/resilient/cmd/demo

go 1.26.0

replace github.com/resilient-http/resilient => ../..
