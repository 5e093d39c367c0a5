package model

import (
	"encoding/base64"
	"strconv"
	"strings"

	"catalogd/internal/catalog"
)

// Node types named in global IDs. Every kind of entity is one row of one table, so they share
// one type; a type added here needs a case in the node resolver.
const (
	NodeEntity         = "Entity"
	NodeScaffolderTask = "ScaffolderTask"
)

// maxNodeIDLen bounds what DecodeNodeID reads: the longest ID catalogd hands out is far shorter.
const maxNodeIDLen = 256

// NodeID is the global ID of a Relay node: the node's type and its key within the type, encoded
// so that clients treat it as opaque and no two nodes of different types share one.
func NodeID(typ, key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(typ + ":" + key))
}

// EntityNodeID is the global ID of the entity row id.
func EntityNodeID(id int) string { return NodeID(NodeEntity, strconv.Itoa(id)) }

// DecodeNodeID splits a global ID into its type and key. An ID catalogd did not hand out is
// EINVALID.
func DecodeNodeID(id string) (typ, key string, err error) {
	if len(id) > maxNodeIDLen {
		return "", "", catalog.Errorf(catalog.EINVALID, "id %q is not a node ID", catalog.Excerpt(id, 40))
	}
	b, err := base64.RawURLEncoding.DecodeString(id)
	if err == nil {
		var ok bool
		typ, key, ok = strings.Cut(string(b), ":")
		if ok && typ != "" && key != "" {
			return typ, key, nil
		}
	}
	return "", "", catalog.Errorf(catalog.EINVALID, "id %q is not a node ID", catalog.Excerpt(id, 40))
}

// EntityRowID is the row id of an entity's global ID; ok is false for a node of another type.
func EntityRowID(typ, key string) (int, bool) {
	if typ != NodeEntity {
		return 0, false
	}
	n, err := strconv.Atoi(key)
	if err != nil || n <= 0 {
		return 0, false
	}
	return n, true
}
