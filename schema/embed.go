// Package schema embeds the JSON Schemas of the descriptor kinds, so the binary validates with
// the same files editors use. The schemas are the source of truth; this file only embeds them.
package schema

import "embed"

// FS holds entity.schema.json, catalog-info.schema.json and kinds/*.schema.json.
//
//go:embed *.schema.json kinds/*.schema.json
var FS embed.FS
