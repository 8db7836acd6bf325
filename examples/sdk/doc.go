// Package sdk holds tested examples of resilient under real SDKs: the AWS
// SDK for Go v2 (S3), go-github and golang.org/x/oauth2. It is a module of
// its own, so that the SDKs stay out of the library's go.mod; the tests run
// against local httptest fakes, never the network. docs/sdks.md explains
// what each SDK's users should set.
package sdk
