// Package demo holds the demo catalog of Acme Pay, a fictional payments
// company, in Backstage's catalog-info.yaml format: a root Location
// (catalog-info.yaml) whose targets are resolved relative to the file that
// lists them, a nested Location (components/catalog-info.yaml), entities of
// every built-in kind plus a custom kind (acme.io/v1 Pipeline), and API
// definitions referenced with $text placeholders (apis/*.yaml), and docs (mkdocs.yml and
// Markdown pages) for two components (components/docs-*).
package demo

import "embed"

// Root is the path of the root Location file inside FS.
const Root = "catalog-info.yaml"

// FS holds every file of the demo catalog.
//
//go:embed *.yaml components/*.yaml apis/*.yaml all:templates components/docs-*
var FS embed.FS
