package graph

import (
	"catalogd/graph/model"
	"catalogd/internal/catalog"
	"catalogd/internal/service"
)

func (r *Resolver) writable() error {
	if r.Catalog == nil {
		return catalog.Errorf(catalog.EFORBIDDEN, "this server performs no writes")
	}
	return nil
}

func locationResult(res *service.LocationResult) *model.LocationResult {
	out := &model.LocationResult{Target: res.Target, EntityRefs: res.EntityRefs, ProcessingErrors: []*model.LocationProcessingError{}}
	for _, e := range res.Errors {
		out.ProcessingErrors = append(out.ProcessingErrors, &model.LocationProcessingError{
			Source: e.Source, Document: e.Document, EntityRef: e.EntityRef, Path: e.Path, Message: e.Message})
	}
	return out
}
