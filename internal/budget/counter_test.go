package budget

import (
	"math"
	"testing"
)

func TestCounter_rollingWindow(t *testing.T) {
	var c Counter
	c.period = 10 // 10 slots of 10ns
	for now := int64(0); now < 100; now += 5 {
		c.Add(now, false)
	}
	if got := c.Sum(99); got != 20 {
		t.Fatalf("sum over the window = %d, want 20", got)
	}
	// 50 later, the first 5 slots (10 events) have left the window.
	if got := c.Sum(149); got != 10 {
		t.Fatalf("sum 50 later = %d, want 10", got)
	}
	c.Add(150, true)
	c.Add(151, true)
	if got := c.Sum(159); got != 9 {
		t.Fatalf("saturated slot: sum = %d, want 9 (8 older and 1)", got)
	}
	c.Reset()
	if got := c.Sum(159); got != 0 {
		t.Fatalf("after Reset: %d", got)
	}
}

func TestCounter_periodsPastTheLow32Bits(t *testing.T) {
	var c Counter
	c.period = 1
	now := int64(math.MaxUint32) + 1<<31 + 5 // a period number whose low 32 bits are above 2^31
	c.Add(now, false)
	c.Add(now, false)
	if got := c.Sum(now); got != 2 {
		t.Fatalf("sum = %d, want 2", got)
	}
}
