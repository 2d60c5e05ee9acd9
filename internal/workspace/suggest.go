package workspace

import (
	"fmt"
	"sort"
	"strings"
)

// didYouMean is the hint of a not-found lookup: the names nearest to query
// (edit distance, ignoring case, or containing it), else the fallback.
func didYouMean(query string, names []string, fallback string) string {
	near := nearest(query, names, 3)
	if len(near) == 0 {
		return fallback
	}
	q := make([]string, len(near))
	for i, n := range near {
		q[i] = fmt.Sprintf("%q", n)
	}
	return "did you mean " + strings.Join(q, " or ") + "? (" + fallback + ")"
}

// nearest returns at most n names close to query, nearest first: within
// an edit distance of a third of the query's length (at least 2), or
// containing it.
func nearest(query string, names []string, n int) []string {
	q := strings.ToLower(query)
	limit := max(2, len([]rune(q))/3)
	type hit struct {
		name string
		d    int
	}
	var hits []hit
	seen := map[string]bool{}
	for _, n := range names {
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		ln := strings.ToLower(n)
		d := editDistance(q, ln)
		if d > limit && !(len(q) >= 3 && strings.Contains(ln, q)) {
			continue
		}
		hits = append(hits, hit{n, d})
	}
	sort.SliceStable(hits, func(i, j int) bool { return hits[i].d < hits[j].d })
	out := make([]string, 0, n)
	for i := 0; i < len(hits) && i < n; i++ {
		out = append(out, hits[i].name)
	}
	return out
}

// editDistance is the Levenshtein distance between a and b, in runes.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
