package cli

import (
	"encoding/json"
	"fmt"
	"io"

	"sigs.k8s.io/yaml"
)

// render prints the ImageBuilds as YAML documents or as a JSON List, ready for `kubectl apply -f -`
// or a GitOps repository. Server-managed fields (status, creationTimestamp) are left out, so that
// the rendered file is exactly what a person would write.
func render(w io.Writer, format string, targets []*target, p manifestParams) error {
	docs := make([]map[string]any, 0, len(targets))
	for _, t := range targets {
		raw, err := json.Marshal(imageBuild(t, p))
		if err != nil {
			return err
		}
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			return err
		}
		delete(doc, "status")
		if md, ok := doc["metadata"].(map[string]any); ok {
			delete(md, "creationTimestamp")
			if md["namespace"] == "" {
				delete(md, "namespace")
			}
		}
		docs = append(docs, doc)
	}
	if format == "json" {
		out, err := json.MarshalIndent(map[string]any{"apiVersion": "v1", "kind": "List", "items": docs}, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", out)
		return err
	}
	for i, doc := range docs {
		out, err := yaml.Marshal(doc)
		if err != nil {
			return err
		}
		if i > 0 {
			if _, err := fmt.Fprintln(w, "---"); err != nil {
				return err
			}
		}
		if _, err := w.Write(out); err != nil {
			return err
		}
	}
	return nil
}
