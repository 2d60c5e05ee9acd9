package tui

import (
	"strings"
	"testing"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
)

func plain() *lipgloss.Renderer {
	r := lipgloss.NewRenderer(nil)
	r.SetColorProfile(termenv.Ascii)
	return r
}

func keys(m tea.Model, ks ...tea.KeyMsg) tea.Model {
	for _, k := range ks {
		m, _ = m.Update(k)
	}
	return m
}

func typed(s string) tea.KeyMsg { return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)} }

var sessions = []Item{
	{Title: "contoso/Production", Detail: "active 42m", Value: "s1"},
	{Title: "contoso/Pre-Production", Detail: "inactive", Value: "s2"},
	{Title: "fabrikam/Dev", Detail: "inactive", Value: "s3"},
}

func TestPickerFiltersMovesAndPicks(t *testing.T) {
	p := NewPicker("start a session", sessions, plain())
	if v := p.View(); !strings.Contains(v, "▸ contoso/Production") || !strings.Contains(v, "3/3") {
		t.Fatalf("first screen:\n%s", v)
	}
	keys(p, typed("prod"))
	if v := p.View(); !strings.Contains(v, "> prod") || !strings.Contains(v, "2/3") || strings.Contains(v, "fabrikam") {
		t.Fatalf("filtered:\n%s", v)
	}
	keys(p, tea.KeyMsg{Type: tea.KeyDown}, tea.KeyMsg{Type: tea.KeyDown}, tea.KeyMsg{Type: tea.KeyEnter})
	if c := p.Chosen(); c == nil || c.Value != "s2" {
		t.Fatalf("chosen %+v", c)
	}

	// Subsequence: "fdv" finds fabrikam/Dev; backspace widens again.
	p = NewPicker("start", sessions, plain())
	keys(p, typed("fdv"))
	if v := p.View(); !strings.Contains(v, "fabrikam/Dev") || !strings.Contains(v, "1/3") {
		t.Fatalf("fuzzy:\n%s", v)
	}
	keys(p, typed("x"))
	if v := p.View(); !strings.Contains(v, "no match") {
		t.Fatalf("no match:\n%s", v)
	}
	keys(p, tea.KeyMsg{Type: tea.KeyEnter}) // nothing to pick: stays open
	if p.Chosen() != nil {
		t.Fatal("picked with no match")
	}
	keys(p, tea.KeyMsg{Type: tea.KeyEsc})
	if p.Chosen() != nil || p.View() != "" {
		t.Fatal("esc picked something or left the screen drawn")
	}
}

func TestPickerScrollsInASmallWindow(t *testing.T) {
	var many []Item
	for _, c := range "abcdefghij" {
		many = append(many, Item{Title: "sub-" + string(c), Value: string(c)})
	}
	p := NewPicker("start", many, plain())
	keys(p, tea.KeyMsg{}) // no-op
	p.Update(tea.WindowSizeMsg{Width: 80, Height: 6})
	for range 7 {
		p.Update(tea.KeyMsg{Type: tea.KeyDown})
	}
	v := p.View()
	if !strings.Contains(v, "▸ sub-h") || strings.Contains(v, "sub-a") || len(strings.Split(v, "\n")) > 6 {
		t.Fatalf("scrolled view:\n%s", v)
	}
}
