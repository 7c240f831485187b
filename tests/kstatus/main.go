// Command kstatus prints the health that sigs.k8s.io/cli-utils/pkg/kstatus (the library Flux and
// kpt use) computes for one Kubernetes object, read as JSON from stdin: one JSON line
// {"status": "Current|InProgress|Failed|Terminating|NotFound|Unknown", "message": "..."}.
// It owns no logic of its own: the verdict is the library's.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

func main() {
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kstatus: reading stdin: %v\n", err)
		os.Exit(2)
	}
	// unstructured's own decoder keeps integers as int64, as kstatus expects (encoding/json gives float64)
	object := &unstructured.Unstructured{}
	if err := object.UnmarshalJSON(data); err != nil {
		fmt.Fprintf(os.Stderr, "kstatus: stdin is not a Kubernetes object: %v\n", err)
		os.Exit(2)
	}
	result, err := status.Compute(object)
	if err != nil {
		fmt.Fprintf(os.Stderr, "kstatus: %v\n", err)
		os.Exit(1)
	}
	out, _ := json.Marshal(map[string]string{"status": result.Status.String(), "message": result.Message})
	fmt.Println(string(out))
}
