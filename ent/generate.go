package ent

//go:generate sh -c "cd .. && go run -mod=mod ./ent/entc.go"
