//go:build tools

// Package yamlhost pins the YAML language host's main package so that
// `go mod tidy` records every module it needs in go.sum.
package yamlhost

import _ "github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml"
