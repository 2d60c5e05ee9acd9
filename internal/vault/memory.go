package vault

import (
	"context"
	"fmt"
	"sort"
	"sync"
)

// Memory is an in-process Store for tests. The zero value is ready to use.
type Memory struct {
	mu    sync.Mutex
	items map[string][]byte
	// Fail, when set, is returned by every call: a locked or absent vault.
	Fail error
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{} }

func (m *Memory) Name() string { return "memory" }

func (m *Memory) Get(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Fail != nil {
		return nil, m.Fail
	}
	v, ok := m.items[key]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return append([]byte(nil), v...), nil
}

func (m *Memory) Set(_ context.Context, key string, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Fail != nil {
		return m.Fail
	}
	if m.items == nil {
		m.items = map[string][]byte{}
	}
	m.items[key] = append([]byte(nil), data...)
	return nil
}

func (m *Memory) Delete(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Fail != nil {
		return m.Fail
	}
	delete(m.items, key)
	return nil
}

func (m *Memory) List(_ context.Context) ([]Item, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Fail != nil {
		return nil, m.Fail
	}
	out := make([]Item, 0, len(m.items))
	for k, v := range m.items {
		out = append(out, Item{Key: k, Size: len(v)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}
