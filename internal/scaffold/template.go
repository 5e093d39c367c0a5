package scaffold

import "catalogd/internal/catalog"

// ParseTemplate reads a Template from an entity's JSON (as the catalog stores it: apiVersion,
// kind, metadata, spec). BaseURL comes from the backstage.io/managed-by-location annotation
// (the folder of the descriptor). Errors are *catalog.Error with EINVALID and a path.
func ParseTemplate(entityJSON []byte) (*Template, error) {
	return nil, catalog.Errorf(catalog.EINTERNAL, "scaffold: not implemented yet")
}

// ValidateValues checks values against every parameter step's JSON Schema, applying defaults,
// and returns the values to run with. Errors are EINVALID and name the field
// ("/name: does not match pattern …").
func (t *Template) ValidateValues(values map[string]any) (map[string]any, error) {
	return nil, catalog.Errorf(catalog.EINTERNAL, "scaffold: not implemented yet")
}
