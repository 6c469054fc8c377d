// Package report is the parent of kubeward's generic machine-readable
// report writers: package sarif (SARIF 2.1.0) and package junit (JUnit
// XML). Each command maps its own findings onto them.
package report
