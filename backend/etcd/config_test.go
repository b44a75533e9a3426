package etcd

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/zkrecipes/zkrecipes/backend"
)

// TestConfigNeverPrintsEndpointCredentials (issue 10.8): an endpoint with
// userinfo is refused, and neither the refusal, String, %v nor %+v prints
// the password. Seen failing with the check removed from Validate (New
// went on to dial) and with String printing Endpoints as given.
func TestConfigNeverPrintsEndpointCredentials(t *testing.T) {
	const pw = "hunter2"
	for _, ep := range []string{"http://bob:" + pw + "@127.0.0.1:2379", "bob:" + pw + "@127.0.0.1:2379"} {
		cfg := Config{Endpoints: []string{ep}, Password: pw, Username: "bob"}
		err := cfg.Validate()
		if !errors.Is(err, backend.ErrUnsupported) {
			t.Fatalf("Validate(%q) = %v; want ErrUnsupported", ep, err)
		}
		_, nerr := New(cfg)
		for what, s := range map[string]string{
			"Validate": err.Error(), "New": fmt.Sprint(nerr), "String": cfg.String(),
			"%v": fmt.Sprintf("%v", cfg), "%+v": fmt.Sprintf("%+v", cfg),
		} {
			if strings.Contains(s, pw) {
				t.Errorf("%s prints the password: %s", what, s)
			}
		}
	}
}
