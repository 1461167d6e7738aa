module github.com/eqgate/eqgate

go 1.26.0
