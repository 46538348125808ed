package auth_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/historiaehr/historia/auth"
)

// Issue an access token with a freshly generated Ed25519 key and verify it.
func ExampleIssuer() {
	key, err := auth.GenerateKey(auth.EdDSA)
	if err != nil {
		panic(err)
	}
	keys, err := auth.NewKeySet(auth.EdDSA, key)
	if err != nil {
		panic(err)
	}
	issuer, err := auth.NewIssuer(keys, auth.IssuerConfig{Issuer: "https://historia.example", Audience: "historia"})
	if err != nil {
		panic(err)
	}
	token, _, err := issuer.Issue(auth.Identity{UserID: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", Tenant: "hospital-central", Roles: []string{"medico"}})
	if err != nil {
		panic(err)
	}
	claims, err := issuer.Verify(token)
	if err != nil {
		panic(err)
	}
	id := claims.Identity()
	fmt.Println(id.UserID, id.Tenant, id.Roles, id.HasRole("medico"))

	// A tampered token is refused.
	_, err = issuer.Verify(strings.Replace(token, ".", ".x", 1))
	fmt.Println(errors.Is(err, auth.ErrInvalidToken))
	// Output:
	// 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b hospital-central [medico] true
	// true
}

// Rotate keys: the new key signs, the old one still verifies until removed.
func ExampleKeySet_Rotate() {
	old, _ := auth.GenerateKey(auth.EdDSA)
	keys, _ := auth.NewKeySet(auth.EdDSA, old)
	issuer, _ := auth.NewIssuer(keys, auth.IssuerConfig{Issuer: "https://historia.example", Audience: "historia"})
	id := auth.Identity{UserID: "u1", Tenant: "t1"}
	before, _, _ := issuer.Issue(id)

	if _, err := keys.Rotate(); err != nil {
		panic(err)
	}
	_, err := issuer.Verify(before)
	fmt.Println("old token after rotation:", err == nil)
	keys.Remove(old.ID())
	_, err = issuer.Verify(before)
	fmt.Println("old token after removal:", err == nil)
	fmt.Println("published keys:", len(keys.JWKS().Keys))
	// Output:
	// old token after rotation: true
	// old token after removal: false
	// published keys: 1
}

// Check a new password against the policy.
func ExampleCheckPassword() {
	fmt.Println(auth.CheckPassword("corto"))
	fmt.Println(auth.CheckPassword("Password1234"))
	fmt.Println(auth.CheckPassword("una frase larga que recuerdo"))
	// Output:
	// auth: password refused: shorter than 12 characters
	// auth: password refused: too common
	// <nil>
}
