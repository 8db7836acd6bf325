// Package bench compares resilient with its peers.
package bench
