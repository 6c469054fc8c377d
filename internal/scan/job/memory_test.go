package job_test

import (
	"testing"

	"github.com/kubeward/kubeward/internal/scan/job"
	"github.com/kubeward/kubeward/internal/scan/job/jobtest"
)

func TestMemoryStoreContract(t *testing.T) {
	jobtest.RunStoreContract(t, func(*testing.T) job.Store { return job.NewMemory() })
}
