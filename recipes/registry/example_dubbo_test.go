package registry_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/zkrecipes/zkrecipes/backend/etcd"
	"github.com/zkrecipes/zkrecipes/recipes/registry"
)

// ExampleDubbo registers a provider in Dubbo's ZooKeeper registry layout,
// subscribes to its service as a Dubbo consumer does, and sees the
// provider go when it unregisters: its category is then Dubbo's empty://
// URL.
func ExampleDubbo() {
	// On ZooKeeper: zk.New(zk.Config{Servers: []string{"127.0.0.1:2181"}, ...}),
	// where Dubbo's own providers and consumers can see the same nodes.
	open := func() *etcd.Client {
		c, err := etcd.New(etcd.Config{Endpoints: exampleEndpoints(), Namespace: "/example-dubbo", SessionTimeout: 10 * time.Second})
		if err != nil {
			log.Fatal(err)
		}
		return c
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	providerClient, consumerClient := open(), open()
	defer providerClient.Close()
	defer consumerClient.Close()

	provider, err := registry.NewDubbo(providerClient, "") // root /dubbo
	if err != nil {
		log.Fatal(err)
	}
	u, err := registry.ParseDubboURL("dubbo://10.0.0.5:20880/com.foo.DemoService?application=demo-provider&interface=com.foo.DemoService&methods=sayHello&side=provider")
	if err != nil {
		log.Fatal(err)
	}
	m, err := provider.RegisterProvider(ctx, u)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Path())

	consumer, err := registry.NewDubbo(consumerClient, "")
	if err != nil {
		log.Fatal(err)
	}
	sub, err := consumer.Subscribe(ctx, "com.foo.DemoService") // providers, configurators, routers
	if err != nil {
		log.Fatal(err)
	}
	defer sub.Close()
	for _, c := range sub.Categories() {
		for _, u := range sub.URLs(c) {
			fmt.Printf("%s: %s\n", c, u)
		}
	}

	if err := m.Close(); err != nil { // unregisters: the node is deleted
		log.Fatal(err)
	}
	for {
		n, err := sub.Next(ctx)
		if err != nil {
			log.Fatal(err)
		}
		if n.Category == registry.DubboProviders && n.Empty() {
			fmt.Printf("%s: %s\n", n.Category, n.URLs[0])
			break
		}
	}
	// Output:
	// /dubbo/com.foo.DemoService/providers/dubbo%3A%2F%2F10.0.0.5%3A20880%2Fcom.foo.DemoService%3Fapplication%3Ddemo-provider%26interface%3Dcom.foo.DemoService%26methods%3DsayHello%26side%3Dprovider
	// providers: dubbo://10.0.0.5:20880/com.foo.DemoService?application=demo-provider&interface=com.foo.DemoService&methods=sayHello&side=provider
	// configurators: empty://0.0.0.0/com.foo.DemoService?category=configurators&interface=com.foo.DemoService
	// routers: empty://0.0.0.0/com.foo.DemoService?category=routers&interface=com.foo.DemoService
	// providers: empty://0.0.0.0/com.foo.DemoService?category=providers&interface=com.foo.DemoService
}
