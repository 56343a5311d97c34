package client_test

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/gatehousetest"
)

func TestMain(m *testing.M) { gatehousetest.Main(m) }
