module github.com/consthash/consthash/scripts/testsum

go 1.26.0
