module github.com/zkrecipes/zkrecipes

go 1.26.0
