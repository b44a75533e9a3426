package config_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/zkrecipes/zkrecipes/backend/etcd"
	"github.com/zkrecipes/zkrecipes/internal/devetcd"
	"github.com/zkrecipes/zkrecipes/recipes/config"
)

// ServerConfig is the type the example's subscriber decodes its key into.
type ServerConfig struct {
	Port     int    `json:"port"`
	LogLevel string `json:"logLevel"`
}

// ExampleWatch subscribes to a JSON key, is told of a publish, of a value
// its validator refuses (the last good value stays) and of the next good
// one, as a service reloading its configuration would be.
func ExampleWatch() {
	eps, err := devetcd.SharedEndpoints() // in your code, your cluster's members
	if err != nil {
		log.Fatal(err)
	}
	// On ZooKeeper: zk.New(zk.Config{Servers: []string{"127.0.0.1:2181"}, ...}).
	client, err := etcd.New(etcd.Config{Endpoints: eps, Namespace: "/example-config-watch", SessionTimeout: 10 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	center, err := config.New(client, config.WithAuthor("ops"))
	if err != nil {
		log.Fatal(err)
	}
	defer center.Close()
	const key = "/services/api/config.json"
	if err := center.Delete(ctx, key); err != nil { // a clean start for the example
		log.Fatal(err)
	}
	if _, err := center.Publish(ctx, key, []byte(`{"port": 8080, "logLevel": "info"}`)); err != nil {
		log.Fatal(err)
	}

	w, err := config.Watch(ctx, center, key, config.JSON[ServerConfig](),
		config.WithValidate(func(c ServerConfig) error {
			if c.Port <= 0 || c.Port > 65535 {
				return fmt.Errorf("port %d out of range", c.Port)
			}
			return nil
		}))
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	v := w.Value()
	fmt.Printf("started with %+v (ticket %v)\n", v.Value, v.Ticket)

	for _, value := range []string{
		`{"port": 8080, "logLevel": "debug"}`,
		`{"port": 0, "logLevel": "debug"}`,
		`{"port": 9090, "logLevel": "debug"}`,
	} {
		if _, err := center.Publish(ctx, key, []byte(value)); err != nil {
			log.Fatal(err)
		}
		c, err := w.Next(ctx)
		if err != nil {
			log.Fatal(err)
		}
		switch {
		case errors.Is(c.Err, config.ErrDecode):
			fmt.Printf("rejected, keeping %+v: %v\n", c.New.Value, c.Err)
		default:
			fmt.Printf("reload: %+v -> %+v (ticket %v)\n", c.Old.Value, c.New.Value, c.New.Ticket)
		}
	}
	// Output:
	// started with {Port:8080 LogLevel:info} (ticket 0)
	// reload: {Port:8080 LogLevel:info} -> {Port:8080 LogLevel:debug} (ticket 1)
	// rejected, keeping {Port:8080 LogLevel:debug}: config: value rejected: /services/api/config.json version 2: port 0 out of range
	// reload: {Port:8080 LogLevel:debug} -> {Port:9090 LogLevel:debug} (ticket 3)
}
