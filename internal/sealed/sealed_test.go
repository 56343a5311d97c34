package sealed_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/sealed"
)

func TestSealOpensOnlyWithTheSameKeyAndAdditionalData(t *testing.T) {
	key := bytes.Repeat([]byte{7}, sealed.KeySize)
	other := bytes.Repeat([]byte{8}, sealed.KeySize)
	secret := []byte("client secret")

	a, err := sealed.Seal(key, "row-1", secret)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sealed.Seal(key, "row-1", secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, b) {
		t.Error("two seals of the same value are equal: the nonce is not random")
	}
	if bytes.Contains(a, secret) {
		t.Error("the sealed value contains the plaintext")
	}
	got, err := sealed.Open(key, "row-1", a)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("open: %q, %v", got, err)
	}

	tampered := bytes.Clone(a)
	tampered[len(tampered)-1] ^= 1
	for name, tc := range map[string]struct {
		key   []byte
		aad   string
		value []byte
	}{
		"fail/other key": {other, "row-1", a},
		"fail/other row": {key, "row-2", a},
		"fail/tampered":  {key, "row-1", tampered},
		"fail/truncated": {key, "row-1", a[:10]},
		"fail/empty":     {key, "row-1", nil},
	} {
		if _, err := sealed.Open(tc.key, tc.aad, tc.value); !errors.Is(err, sealed.ErrOpen) {
			t.Errorf("%s: err = %v, want ErrOpen", name, err)
		}
	}
}

func TestSealRefusesAKeyOfTheWrongSize(t *testing.T) {
	if _, err := sealed.Seal([]byte("short"), "x", []byte("y")); err == nil {
		t.Error("Seal accepted a 5-byte key")
	}
	if _, err := sealed.Open(make([]byte, 16), "x", make([]byte, 64)); err == nil || errors.Is(err, sealed.ErrOpen) {
		t.Errorf("Open with a 16-byte key: %v, want a key-size error", err)
	}
}

func TestOpenInPlaceOpensWhatOpenOpens(t *testing.T) {
	key := bytes.Repeat([]byte{7}, sealed.KeySize)
	plain := bytes.Repeat([]byte("a record "), 1000)
	box, err := sealed.Seal(key, "rec 1", plain)
	if err != nil {
		t.Fatal(err)
	}
	altered := bytes.Clone(box)
	altered[len(altered)/2] ^= 1
	got, err := sealed.OpenInPlace(key, "rec 1", box)
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("OpenInPlace: %v, plaintext equal %v", err, bytes.Equal(got, plain))
	}
	if _, err := sealed.OpenInPlace(key, "rec 1", altered); !errors.Is(err, sealed.ErrOpen) {
		t.Errorf("altered value: %v, want ErrOpen", err)
	}
}
