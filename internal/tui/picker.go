// Package tui holds azkeep's terminal screens: the fuzzy picker commands
// open when a session or integration is missing from the command line, and
// the dashboard of `azkeep ui`. Both are bubbletea models, so tests drive
// them by calling Update with key messages and reading View.
package tui

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
)

// ErrCancelled is returned by Pick when the user pressed Esc or Ctrl-C.
var ErrCancelled = errors.New("nothing picked")

// Item is one line of a picker.
type Item struct {
	// Title is what the filter matches and the user reads first.
	Title string
	// Detail is shown dimmed after the title (status, time left); the
	// filter matches it too.
	Detail string
	// Value is what Pick returns (a session or integration id).
	Value string
}

// Picker is the model of a fuzzy picker: typing filters, the arrows move,
// Enter picks, Esc cancels.
type Picker struct {
	title    string
	items    []Item
	query    []rune
	matches  []int // indices into items, best first
	cursor   int
	height   int
	chosen   *Item
	quitting bool
	style    styles
}

// NewPicker returns a picker over items, rendered with r (its colour
// profile follows the output and NO_COLOR).
func NewPicker(title string, items []Item, r *lipgloss.Renderer) *Picker {
	p := &Picker{title: title, items: items, height: 12, style: newStyles(r)}
	p.refilter()
	return p
}

// Chosen is the picked item, or nil (cancelled, or not yet).
func (p *Picker) Chosen() *Item { return p.chosen }

// Init implements tea.Model.
func (p *Picker) Init() tea.Cmd { return nil }

// Update implements tea.Model.
func (p *Picker) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		p.height = max(3, msg.Height-3)
	case tea.KeyMsg:
		switch msg.Type {
		case tea.KeyEsc, tea.KeyCtrlC:
			p.quitting = true
			return p, tea.Quit
		case tea.KeyEnter:
			if len(p.matches) > 0 {
				it := p.items[p.matches[p.cursor]]
				p.chosen = &it
				p.quitting = true
				return p, tea.Quit
			}
		case tea.KeyUp, tea.KeyCtrlP, tea.KeyShiftTab:
			if p.cursor > 0 {
				p.cursor--
			}
		case tea.KeyDown, tea.KeyCtrlN, tea.KeyTab:
			if p.cursor < len(p.matches)-1 {
				p.cursor++
			}
		case tea.KeyBackspace:
			if len(p.query) > 0 {
				p.query = p.query[:len(p.query)-1]
				p.refilter()
			}
		case tea.KeyCtrlU:
			p.query = nil
			p.refilter()
		case tea.KeyRunes, tea.KeySpace:
			p.query = append(p.query, msg.Runes...)
			if msg.Type == tea.KeySpace {
				p.query = append(p.query, ' ')
			}
			p.refilter()
		}
	}
	return p, nil
}

// View implements tea.Model.
func (p *Picker) View() string {
	if p.quitting {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", p.style.title.Render(p.title), p.style.dim.Render("(type to filter, ↑/↓, Enter, Esc)"))
	fmt.Fprintf(&b, "> %s%s\n", string(p.query), p.style.cursor.Render(" "))
	first := 0
	if p.cursor >= p.height {
		first = p.cursor - p.height + 1
	}
	width := 0
	for _, i := range p.matches {
		width = max(width, lipgloss.Width(p.items[i].Title))
	}
	for n := first; n < len(p.matches) && n < first+p.height; n++ {
		it := p.items[p.matches[n]]
		line := it.Title + strings.Repeat(" ", width-lipgloss.Width(it.Title))
		if it.Detail != "" {
			line += "  " + p.style.dim.Render(it.Detail)
		}
		if n == p.cursor {
			fmt.Fprintf(&b, "%s %s\n", p.style.mark.Render("▸"), p.style.selected.Render(line))
		} else {
			fmt.Fprintf(&b, "  %s\n", line)
		}
	}
	if len(p.matches) == 0 {
		b.WriteString(p.style.dim.Render("  no match") + "\n")
	}
	b.WriteString(p.style.dim.Render(fmt.Sprintf("  %d/%d", len(p.matches), len(p.items))))
	return b.String()
}

// refilter ranks the items against the query: those containing it as
// typed come first, then those containing its letters in order (fzf's
// subsequence match); ties keep the given order.
func (p *Picker) refilter() {
	q := strings.ToLower(strings.TrimSpace(string(p.query)))
	p.matches = p.matches[:0]
	var loose []int
	for i, it := range p.items {
		hay := strings.ToLower(it.Title + " " + it.Detail)
		switch {
		case strings.Contains(hay, q):
			p.matches = append(p.matches, i)
		case subsequence(q, hay):
			loose = append(loose, i)
		}
	}
	p.matches = append(p.matches, loose...)
	p.cursor = 0
}

// subsequence reports whether every non-space rune of q occurs in s, in order.
func subsequence(q, s string) bool {
	rs := []rune(s)
	j := 0
	for _, r := range q {
		if unicode.IsSpace(r) {
			continue
		}
		for j < len(rs) && rs[j] != r {
			j++
		}
		if j == len(rs) {
			return false
		}
		j++
	}
	return true
}

// Pick runs a picker on the terminal in and out (the caller's stderr, so
// that stdout stays for the command's result, as in eval "$(azkeep env)")
// and returns the chosen item's value, or ErrCancelled.
func Pick(in io.Reader, out io.Writer, title string, items []Item) (string, error) {
	if len(items) == 0 {
		return "", ErrCancelled
	}
	p := NewPicker(title, items, lipgloss.NewRenderer(out))
	final, err := tea.NewProgram(p, tea.WithInput(in), tea.WithOutput(out)).Run()
	if err != nil {
		return "", err
	}
	if c := final.(*Picker).Chosen(); c != nil {
		return c.Value, nil
	}
	return "", ErrCancelled
}

// styles are the few text styles the screens use; with NO_COLOR or on a
// terminal without colours the renderer drops them and the marks ("▸",
// brackets) carry the meaning.
type styles struct {
	title, dim, mark, selected, cursor, bad, good lipgloss.Style
}

func newStyles(r *lipgloss.Renderer) styles {
	return styles{
		title:    r.NewStyle().Bold(true),
		dim:      r.NewStyle().Faint(true),
		mark:     r.NewStyle().Foreground(lipgloss.Color("6")).Bold(true),
		selected: r.NewStyle().Bold(true),
		cursor:   r.NewStyle().Reverse(true),
		bad:      r.NewStyle().Foreground(lipgloss.Color("1")),
		good:     r.NewStyle().Foreground(lipgloss.Color("2")),
	}
}
