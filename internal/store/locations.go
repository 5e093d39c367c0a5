package store

import (
	"context"
	"fmt"
	"time"

	"catalogd/ent"
	"catalogd/ent/entity"
	"catalogd/ent/locationstate"
	"catalogd/ent/processingerror"
	"catalogd/internal/catalog"
)

// Location origins in the registry.
const (
	OriginConfig  = "config"  // from flags or the configuration file
	OriginRuntime = "runtime" // registered through the API; kept across restarts
)

// LocationRecord is one location of the registry, as stored.
type LocationRecord struct {
	Spec         catalog.LocationSpec
	Options      map[string]any
	Origin       string
	RegisteredBy string
	Retired      bool
}

// Observe records that a read of loc found revision rev again. When rev is the revision of
// the last applied read, nothing else is done and same is true (with the location's entity
// count): the read costs one statement, however many entities the location holds.
func (s *Store) Observe(ctx context.Context, loc catalog.LocationSpec, rev string, started time.Time) (same bool, n int, err error) {
	now := time.Now().UTC()
	st, err := s.Client.LocationState.Query().Where(locationstate.Key(loc.Key)).Only(ctx)
	if ent.IsNotFound(err) {
		return false, 0, nil
	}
	if err != nil || st.Revision != rev || st.LastError != "" || st.LastSuccessAt == nil {
		return false, 0, err
	}
	if err := st.Update().SetLastReadAt(now).SetLastSuccessAt(now).SetLastObservedAt(now).
		SetDurationMs(now.Sub(started).Milliseconds()).Exec(ctx); err != nil {
		return false, 0, err
	}
	return true, st.Entities, nil
}

// UpsertLocation records a location in the registry (configured at start, or registered at
// run time), un-retiring it if it was retired. A configured location stays configured.
func (s *Store) UpsertLocation(ctx context.Context, r LocationRecord) error {
	err := s.upsertLocation(ctx, r)
	if ent.IsConstraintError(err) {
		// Another replica inserted it between the look and the insert (replicas starting
		// together record the same configured locations): update the row it made.
		err = s.upsertLocation(ctx, r)
	}
	return err
}

func (s *Store) upsertLocation(ctx context.Context, r LocationRecord) error {
	st, err := s.Client.LocationState.Query().Where(locationstate.Key(r.Spec.Key)).Only(ctx)
	if ent.IsNotFound(err) {
		return s.Client.LocationState.Create().SetKey(r.Spec.Key).SetProvider(r.Spec.Provider).SetTarget(r.Spec.Target).
			SetOptions(r.Options).SetOrigin(r.Origin).SetRegisteredBy(r.RegisteredBy).SetCreatedAt(time.Now().UTC()).Exec(ctx)
	}
	if err != nil {
		return err
	}
	u := st.Update().SetProvider(r.Spec.Provider).SetTarget(r.Spec.Target).SetOptions(r.Options).SetRetired(false)
	if r.Origin == OriginConfig || st.Retired {
		u.SetOrigin(r.Origin).SetRegisteredBy(r.RegisteredBy)
	}
	if st.CreatedAt == nil {
		u.SetCreatedAt(time.Now().UTC())
	}
	return u.Exec(ctx)
}

// RetireUnconfigured marks every configured location whose key is not in keys as retired:
// another location may adopt its entities, and RemoveLocation removes the rest. It returns
// the retired keys.
func (s *Store) RetireUnconfigured(ctx context.Context, keys []string) ([]string, error) {
	gone, err := s.Client.LocationState.Query().
		Where(locationstate.OriginEQ(OriginConfig), locationstate.KeyNotIn(keys...)).All(ctx)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, g := range gone {
		if err := g.Update().SetRetired(true).Exec(ctx); err != nil {
			return nil, err
		}
		out = append(out, g.Key)
	}
	return out, nil
}

// RuntimeLocations lists the locations registered at run time (and not retired).
func (s *Store) RuntimeLocations(ctx context.Context) ([]LocationRecord, error) {
	rows, err := s.Client.LocationState.Query().
		Where(locationstate.OriginEQ(OriginRuntime), locationstate.Retired(false)).Order(locationstate.ByKey()).All(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]LocationRecord, len(rows))
	for i, r := range rows {
		out[i] = LocationRecord{Spec: catalog.LocationSpec{Key: r.Key, Provider: r.Provider, Target: r.Target},
			Options: r.Options, Origin: r.Origin, RegisteredBy: r.RegisteredBy}
	}
	return out, nil
}

// GetLocation returns the registry's row of key (nil when there is none).
func (s *Store) GetLocation(ctx context.Context, key string) (*ent.LocationState, error) {
	st, err := s.Client.LocationState.Query().Where(locationstate.Key(key)).Only(ctx)
	if ent.IsNotFound(err) {
		return nil, nil
	}
	return st, err
}

// RemoveLocation removes a location and its entities: an empty snapshot applied through the
// guard (so without force it refuses to remove a location that still has entities), every
// removal recorded in the change log with reason. When refused, the location stays (retired)
// with the refusal as its error.
func (s *Store) RemoveLocation(ctx context.Context, key, reason string, force bool) (ApplyResult, error) {
	st, err := s.GetLocation(ctx, key)
	if err != nil || st == nil {
		return ApplyResult{}, err
	}
	if err := st.Update().SetRetired(true).Exec(ctx); err != nil {
		return ApplyResult{}, err
	}
	loc := catalog.LocationSpec{Key: st.Key, Provider: st.Provider, Target: st.Target}
	res, err := s.Apply(ctx, loc, &Batch{Parts: Entities(nil), Force: force, Reason: reason, Started: time.Now()})
	if err != nil {
		return res, err
	}
	n, err := s.Client.Entity.Query().Where(entity.Location(key)).Count(ctx)
	if err != nil {
		return res, err
	}
	if n > 0 {
		return res, fmt.Errorf("location %s still holds %d entities", key, n)
	}
	if _, err := s.Client.ProcessingError.Delete().Where(processingerror.Location(key)).Exec(ctx); err != nil {
		return res, err
	}
	_, err = s.Client.LocationState.Delete().Where(locationstate.Key(key)).Exec(ctx)
	return res, err
}

// LocationRefs lists the refs of the entities a location holds (at most limit), sorted.
func (s *Store) LocationRefs(ctx context.Context, key string, limit int) ([]string, error) {
	return s.Client.Entity.Query().Where(entity.Location(key)).Order(entity.ByRef()).Limit(limit).
		Select(entity.FieldRef).Strings(ctx)
}

// LocationErrors lists the processing errors recorded for a location (at most limit).
func (s *Store) LocationErrors(ctx context.Context, key string, limit int) ([]ErrorRecord, error) {
	rows, err := s.Client.ProcessingError.Query().Where(processingerror.Location(key)).
		Order(processingerror.ByID()).Limit(limit).All(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ErrorRecord, len(rows))
	for i, r := range rows {
		out[i] = ErrorRecord{Source: r.Source, Document: r.Document, Line: r.Line, EntityRef: r.EntityRef, Path: r.Path, Message: r.Message}
	}
	return out, nil
}
