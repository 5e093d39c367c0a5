package catalog

import (
	"errors"
	"io/fs"
)

// Tree is what a provider hands to ingestion: a readable file tree, the path of the location's
// root (a descriptor file or a directory of them) and how to name a path in annotations and
// error records (e.g. "file:/srv/catalog/team-a.yaml").
type Tree struct {
	FS   fs.FS
	Root string
	URL  func(path string) string
	// Revision names the version of the source this tree is (a git commit hash, an ETag, …);
	// "" when the provider cannot tell. Two reads with one non-empty revision hold the same
	// files, so the engine may skip processing the second.
	Revision string
}

// LocationSpec identifies a configured location, as Backstage's LocationSpec does.
type LocationSpec struct {
	Key      string // stable key, e.g. file:/srv/catalog/catalog-info.yaml
	Provider string // e.g. file
	Target   string // what the provider reads
}

// ErrOutsideTree is what a Tree's FS answers (wrapped) for a path it may not read: outside the
// location's directory and the directories the operator allows, or reached through a symbolic
// link that leads out of them.
var ErrOutsideTree = errors.New("refused: outside the location's directory and the --read-allow-dir directories")
