package bench

import (
	"encoding/json"
	"io"
	"net/http"
	"sync"
)

var (
	builtOnce sync.Once
	builtBin  string
	builtErr  error
)

func decodeJSON(resp *http.Response, v any) error {
	defer resp.Body.Close()
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}
