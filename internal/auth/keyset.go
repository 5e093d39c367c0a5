package auth

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/time/rate"
)

// keySet is an issuer's JWKS, fetched on first use and again when a token's signature matches
// none of the fetched keys, so rotated keys are picked up without a restart.
//
// go-oidc's RemoteKeySet does the same but fetches again for every token that fails to
// verify: a stream of forged tokens becomes a stream of requests to the provider. Here fetches
// are limited (a burst, then one per refetchInterval); verification itself is go-oidc's
// StaticKeySet and the JWKS parsing go-jose's.
type keySet struct {
	url     string
	client  *http.Client
	limiter *rate.Limiter

	mu   sync.Mutex // one fetch at a time
	keys atomic.Pointer[oidc.StaticKeySet]
}

const (
	refetchInterval = 2 * time.Second
	refetchBurst    = 3
	maxJWKSBytes    = 1 << 20
	maxKeys         = 100
)

func newKeySet(url string, client *http.Client) *keySet {
	if client == nil {
		client = http.DefaultClient
	}
	return &keySet{url: url, client: client, limiter: rate.NewLimiter(rate.Every(refetchInterval), refetchBurst)}
}

var errNoKey = errors.New("no key of the issuer verifies the signature")

// VerifySignature implements oidc.KeySet. The verifier has checked the algorithm already.
func (k *keySet) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	seen := k.keys.Load()
	if seen != nil {
		if payload, err := seen.VerifySignature(ctx, jwt); err == nil {
			return payload, nil
		}
	}
	k.mu.Lock()
	if k.keys.Load() == seen { // nobody fetched while this one waited
		if !k.limiter.Allow() {
			k.mu.Unlock()
			return nil, fmt.Errorf("%w (the keys were fetched moments ago)", errNoKey)
		}
		if err := k.fetch(ctx); err != nil {
			k.mu.Unlock()
			return nil, err
		}
	}
	k.mu.Unlock()
	payload, err := k.keys.Load().VerifySignature(ctx, jwt)
	if err != nil {
		return nil, errNoKey
	}
	return payload, nil
}

func (k *keySet) fetch(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return err
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return fmt.Errorf("fetch the issuer's keys: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch the issuer's keys: %s answered %s", k.url, resp.Status)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJWKSBytes)).Decode(&set); err != nil {
		return fmt.Errorf("the issuer's keys at %s: %v", k.url, err)
	}
	var pubs []crypto.PublicKey
	for _, key := range set.Keys {
		if (key.Use == "" || key.Use == "sig") && key.Valid() && key.IsPublic() && len(pubs) < maxKeys {
			pubs = append(pubs, key.Key)
		}
	}
	if len(pubs) == 0 {
		return fmt.Errorf("the issuer's keys at %s: no public signing key", k.url)
	}
	k.keys.Store(&oidc.StaticKeySet{PublicKeys: pubs})
	return nil
}
