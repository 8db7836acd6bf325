package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// cell is one benchstat summary: the center (median) of a benchmark's
// samples for one column value (peer), its confidence interval, and, for
// columns other than the baseline, the comparison with the baseline.
type cell struct {
	Center float64 // in the table's unit; sec/op is converted to ns/op, cpu-sec/op to cpu-ns/op
	CI     string  // "± 2%", "± ∞" when too few samples
	Delta  string  // "~" (no significant difference), "+12.34%", "" for the baseline
	P      string  // "p=0.002 n=6"
}

// table is one benchstat table: one unit, rows by benchmark, columns by the
// -col key's values.
type table struct {
	Unit string   // "ns/op", "B/op", "allocs/op", "cpu-ns/op", "dials/op"
	Cols []string // column values in benchstat's order; the first is the baseline
	Rows map[string]map[string]cell
}

// stats is every table of one benchstat CSV, by unit.
type stats map[string]*table

// get returns the cell for unit, row and col, and whether there is one.
func (s stats) get(unit, row, col string) (cell, bool) {
	t := s[unit]
	if t == nil {
		return cell{}, false
	}
	c, ok := t.Rows[row][col]
	return c, ok
}

var procSuffix = regexp.MustCompile(`-\d+$`)

// readStats parses the output of benchstat -format csv.
func readStats(path string) (stats, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	var recs [][]string
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		recs = append(recs, rec)
	}
	out := stats{}
	var cur *table
	var colAt map[int]string // field index of a column's center → column name
	for i := 0; i < len(recs); i++ {
		rec := recs[i]
		// A table starts with two header records: column names, then units.
		if len(rec) > 1 && rec[0] == "" && i+1 < len(recs) && len(recs[i+1]) > 1 && recs[i+1][0] == "" {
			units := recs[i+1]
			cur = &table{Rows: map[string]map[string]cell{}}
			colAt = map[int]string{}
			for j := 1; j < len(rec); j++ {
				if rec[j] != "" {
					colAt[j] = rec[j]
					cur.Cols = append(cur.Cols, rec[j])
					if cur.Unit == "" && j < len(units) {
						cur.Unit = units[j]
					}
				}
			}
			// benchstat reports ns/op and cpu-ns/op in seconds.
			if strings.HasSuffix(cur.Unit, "sec/op") {
				cur.Unit = strings.TrimSuffix(cur.Unit, "sec/op") + "ns/op"
			}
			out[cur.Unit] = cur
			i++
			continue
		}
		if cur == nil || len(rec) < 3 || rec[0] == "" || rec[0] == "geomean" {
			continue
		}
		row := procSuffix.ReplaceAllString(rec[0], "")
		cells := map[string]cell{}
		for j, col := range colAt {
			if j >= len(rec) || rec[j] == "" {
				continue
			}
			v, err := strconv.ParseFloat(rec[j], 64)
			if err != nil {
				continue
			}
			if strings.HasSuffix(cur.Unit, "ns/op") {
				v *= 1e9
			}
			c := cell{Center: v}
			if j+1 < len(rec) {
				c.CI = "± " + rec[j+1]
			}
			if col != cur.Cols[0] && j+3 < len(rec) {
				c.Delta, c.P = rec[j+2], rec[j+3]
			}
			cells[col] = c
		}
		cur.Rows[row] = cells
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no benchstat table", path)
	}
	return out, nil
}

// significant reports whether benchstat found a difference from the
// baseline.
func (c cell) significant() bool {
	return c.Delta != "" && c.Delta != "~"
}

// deltaPct returns benchstat's change from the baseline in percent, 0 when
// it found none.
func (c cell) deltaPct() float64 {
	if !c.significant() {
		return 0
	}
	v, err := strconv.ParseFloat(strings.TrimSuffix(c.Delta, "%"), 64)
	if err != nil {
		return 0
	}
	return v
}

// instr holds instructions per iteration counted under valgrind, by row
// (benchmark name without its last element) and column (peer or variant).
type instr map[string]map[string]float64

// readInstr parses bench/out/instr.txt: lines of "name<TAB>count", where
// name ends in /peer=P or /variant=V. A missing file gives an empty instr.
func readInstr(path string) (instr, error) {
	in := instr{}
	b, err := os.ReadFile(path)
	if err != nil {
		return in, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		name, count, ok := strings.Cut(strings.TrimSpace(line), "\t")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(count, 64)
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(name, '/')
		if i < 0 {
			continue
		}
		_, col, ok := strings.Cut(name[i+1:], "=")
		if !ok {
			continue
		}
		if in[name[:i]] == nil {
			in[name[:i]] = map[string]float64{}
		}
		in[name[:i]][col] = v
	}
	return in, nil
}

// get returns the count for row and col, and whether there is one.
func (in instr) get(row, col string) (float64, bool) {
	v, ok := in[row][col]
	return v, ok && v > 0
}
