package testpeers

import "testing"

func FuzzZZFail(f *testing.F) {
	f.Add(1)
	f.Fuzz(func(t *testing.T, i int) {
		if i != 1 {
			t.Fatal("boom")
		}
	})
}
