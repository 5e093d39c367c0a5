package scaffolder

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Keyring seals a task's secrets with AES-256-GCM. The task's id is the additional data, so a
// ciphertext copied onto another task does not open.
type Keyring struct {
	aead cipher.AEAD
	// ID is a fingerprint of the key (not the key): a worker can tell whether it holds the key
	// that sealed a task's secrets without trying it.
	ID string
	// Ephemeral is true for a key made up at start because none was configured.
	Ephemeral bool
}

// ParseKey reads a configured key: 32 bytes written as 64 hex digits or in base64.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == 32 {
		return b, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, errors.New("the scaffolder's secret key must be 32 bytes, written as 64 hex digits or in base64 (openssl rand -hex 32)")
}

// NewKeyring returns a keyring over key (32 bytes), or over a random key when key is nil: then
// only this process can open what it sealed.
func NewKeyring(key []byte) (*Keyring, error) {
	ephemeral := key == nil
	if ephemeral {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
	}
	if len(key) != 32 {
		return nil, fmt.Errorf("the scaffolder's secret key must be 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(append([]byte("catalogd scaffolder key id\x00"), key...))
	return &Keyring{aead: aead, ID: hex.EncodeToString(sum[:8]), Ephemeral: ephemeral}, nil
}

// Seal encrypts secrets for the task taskID: a random nonce followed by the ciphertext.
func (k *Keyring) Seal(taskID string, secrets map[string]string) ([]byte, error) {
	plain, err := json.Marshal(secrets)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return k.aead.Seal(nonce, nonce, plain, []byte(taskID)), nil
}

// Open decrypts what Seal produced for the same task.
func (k *Keyring) Open(taskID string, sealed []byte) (map[string]string, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("sealed secrets too short")
	}
	plain, err := k.aead.Open(nil, sealed[:n], sealed[n:], []byte(taskID))
	if err != nil {
		return nil, errors.New("sealed secrets do not open with this key")
	}
	var m map[string]string
	if err := json.Unmarshal(plain, &m); err != nil {
		return nil, err
	}
	return m, nil
}
