package sqlite_test

import (
	"testing"

	"github.com/kubeward/kubeward/internal/scan/job"
	"github.com/kubeward/kubeward/internal/scan/job/jobtest"
	"github.com/kubeward/kubeward/internal/store/sqlite"
)

// serve finds the scan store on a store.Store through this interface.
var _ interface{ Scans() job.Store } = (*sqlite.Store)(nil)

func TestScanStoreContract(t *testing.T) {
	jobtest.RunStoreContract(t, func(t *testing.T) job.Store { return openTemp(t).Scans() })
}
