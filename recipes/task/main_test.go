package task

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/zkrecipes/zkrecipes/internal/devetcd"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(devetcd.ClosingShared(m)) } // the example's etcd
