package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"math/big"
)

func verifyES256Raw(pub *ecdsa.PublicKey, hash, sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:])
	return ecdsa.Verify(pub, hash, r, s)
}

func verifyRS256Raw(k *Key, input string, sig []byte) error {
	h := sha256.Sum256([]byte(input))
	return rsa.VerifyPKCS1v15(k.public.(*rsa.PublicKey), crypto.SHA256, h[:], sig)
}
