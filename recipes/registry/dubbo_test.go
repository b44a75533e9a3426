package registry

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// dubboProviderURL and dubboProviderNode are one registration by a real
// Dubbo 2.7.5 provider, copied from its "Failed to register ..." log
// (ZookeeperRegistry.doRegister -> CuratorZookeeperClient.createEphemeral),
// quoted in a public GitHub note about a ZooKeeper client/server mismatch
// (found with the code search: "providers/dubbo%3A%2F%2F"). The URL is what
// Dubbo logged as the URL, the node is the path it tried to create.
const (
	dubboProviderURL  = "dubbo://192.168.0.102:20881/com.heyu.service.StudentService?anyhost=true&application=myProvider&deprecated=false&dubbo=2.0.2&dynamic=true&generic=false&interface=com.heyu.service.StudentService&methods=getStudent&pid=20828&release=2.7.5&side=provider&timestamp=1624334801215"
	dubboProviderNode = "/dubbo/com.heyu.service.StudentService/providers/dubbo%3A%2F%2F192.168.0.102%3A20881%2Fcom.heyu.service.StudentService%3Fanyhost%3Dtrue%26application%3DmyProvider%26deprecated%3Dfalse%26dubbo%3D2.0.2%26dynamic%3Dtrue%26generic%3Dfalse%26interface%3Dcom.heyu.service.StudentService%26methods%3DgetStudent%26pid%3D20828%26release%3D2.7.5%26side%3Dprovider%26timestamp%3D1624334801215"
)

// dubboEchoNode is a node name quoted in a code comment of a public Dubbo
// source walk-through (ZookeeperRegistry.doRegister, dubbo-samples echo
// provider, Dubbo 2.7): the "," in methods=echo1,echo is %2C.
const dubboEchoNode = "dubbo%3A%2F%2F192.168.0.105%3A20880%2Forg.apache.dubbo.demo.DemoService%3Fanyhost%3Dtrue%26application%3Decho-provider%26dubbo%3D2.0.2%26generic%3Dfalse%26interface%3Dcom.alibaba.dubbo.samples.echo.api.EchoService%26methods%3Decho1%2Cecho%26pid%3D15700%26side%3Dprovider%26timestamp%3D1572966656788"

// TestDubboRealNodes rebuilds the nodes real Dubbo providers created from
// their URLs, and reads the nodes back to the same URLs.
//
// Broken on purpose: String writing the parameters in map order instead of
// sorted -> fails (on most runs) with the parameters shuffled in the node.
func TestDubboRealNodes(t *testing.T) {
	u, err := ParseDubboURL(dubboProviderURL)
	if err != nil {
		t.Fatal(err)
	}
	if u.Protocol != "dubbo" || u.Host != "192.168.0.102" || u.Port != 20881 || u.Path != "com.heyu.service.StudentService" || len(u.Params) != 12 || u.Params["side"] != "provider" {
		t.Fatalf("ParseDubboURL: got %+v", u)
	}
	if got := DubboNodePath("", u, ""); got != dubboProviderNode {
		t.Fatalf("DubboNodePath:\n got %s\nwant %s", got, dubboProviderNode)
	}
	if got := DubboNodePath("dubbo", u, "providers"); got != dubboProviderNode {
		t.Fatalf("DubboNodePath with root and category given:\n got %s\nwant %s", got, dubboProviderNode)
	}
	for _, node := range []string{dubboProviderNode[strings.LastIndexByte(dubboProviderNode, '/')+1:], dubboEchoNode} {
		s, err := DubboDecode(node)
		if err != nil {
			t.Fatal(err)
		}
		u, err := ParseDubboURL(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := DubboEncode(u.String()); got != node {
			t.Errorf("node read and written back:\n got %s\nwant %s", got, node)
		}
	}
	if s, _ := DubboDecode(dubboEchoNode); !strings.Contains(s, "methods=echo1,echo&") {
		t.Errorf("DubboDecode: got %s, want methods=echo1,echo", s)
	}
}

// TestDubboURLString covers the shapes of toFullString.
//
// Broken on purpose: String writing the password without a user -> the
// "password only" case fails with ":p@h"; not trimming values -> the
// "trimmed" case fails.
func TestDubboURLString(t *testing.T) {
	cases := []struct {
		name string
		u    DubboURL
		want string
	}{
		{"full", DubboURL{Protocol: "dubbo", Username: "u", Password: "p", Host: "h", Port: 1, Path: "a/b", Params: map[string]string{"z": "1", "a": "2", "B": "3"}}, "dubbo://u:p@h:1/a/b?B=3&a=2&z=1"},
		{"user only", DubboURL{Protocol: "dubbo", Username: "u", Host: "h"}, "dubbo://u@h"},
		{"password only", DubboURL{Protocol: "dubbo", Password: "p", Host: "h"}, "dubbo://h"},
		{"port without host", DubboURL{Protocol: "dubbo", Port: 5, Path: "x"}, "dubbo:///x"},
		{"no protocol", DubboURL{Host: "h", Port: 2}, "h:2"},
		{"empty key and trimmed", DubboURL{Protocol: "p", Host: "h", Params: map[string]string{"": "x", "k": " v "}}, "p://h?k=v"},
		{"empty params", DubboURL{Protocol: "empty", Host: "0.0.0.0", Path: "com.foo.Svc", Params: map[string]string{}}, "empty://0.0.0.0/com.foo.Svc"},
	}
	for _, c := range cases {
		if got := c.u.String(); got != c.want {
			t.Errorf("%s: String: got %s, want %s", c.name, got, c.want)
		}
	}
}

// TestParseDubboURL covers the parse rules of Dubbo's URL.valueOf.
//
// Broken on purpose: splitting user and host at the first '@' -> the
// "@ in user" case fails; reading a port after an IPv6 scope '%' -> the
// "scope" case fails with a bad-port error.
func TestParseDubboURL(t *testing.T) {
	cases := []struct {
		in   string
		want DubboURL
	}{
		{"override://0.0.0.0/com.foo.Svc?category=configurators&dynamic=false&enabled=true&timeout=1000",
			DubboURL{Protocol: "override", Host: "0.0.0.0", Path: "com.foo.Svc", Params: map[string]string{"category": "configurators", "dynamic": "false", "enabled": "true", "timeout": "1000"}}},
		{"file:/home/a.txt", DubboURL{Protocol: "file", Path: "home/a.txt"}},
		{"u:p@w@h:9/x", DubboURL{Username: "u", Password: "p@w", Host: "h", Port: 9, Path: "x"}},
		{"dubbo://[fe80::1%eth0]", DubboURL{Protocol: "dubbo", Host: "[fe80::1%eth0]"}},
		{"dubbo://[::1]:20880/x?flag&a=&=v", DubboURL{Protocol: "dubbo", Host: "[::1]", Port: 20880, Path: "x", Params: map[string]string{"flag": "flag", "a": "", "": "v"}}},
		{"dubbo://h:", DubboURL{Protocol: "dubbo", Host: "h:"}},
	}
	for _, c := range cases {
		got, err := ParseDubboURL(c.in)
		if err != nil {
			t.Errorf("ParseDubboURL(%q): %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseDubboURL(%q):\n got %+v\nwant %+v", c.in, got, c.want)
		}
	}
	for _, bad := range []string{"", " ", "://h/x", ":/x", "dubbo://h:port/x"} {
		if _, err := ParseDubboURL(bad); !errors.Is(err, ErrBadURL) {
			t.Errorf("ParseDubboURL(%q): got %v, want ErrBadURL", bad, err)
		}
	}
}

// javaURLEncoder answers each line with URLEncoder.encode(line, "UTF-8"),
// a tab, and URLDecoder.decode of that (or "ERR").
const javaURLEncoder = `
import java.io.*;
import java.net.*;
import java.nio.charset.StandardCharsets;

public class Enc {
  public static void main(String[] args) throws Exception {
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, "UTF-8");
    String line;
    while ((line = in.readLine()) != null) {
      String e = URLEncoder.encode(line, "UTF-8");
      out.println(e + "\t" + URLDecoder.decode(e, "UTF-8"));
    }
  }
}
`

// TestDubboEncode checks DubboEncode and DubboDecode against Java's
// URLEncoder and URLDecoder themselves (when java is here), and pins the
// edge cases.
//
// Broken on purpose: keeping '~' (as url.QueryEscape does) -> fails with
// "~" against Java's "%7E"; space as %20 -> fails with "a%20b" against
// "a+b".
func TestDubboEncode(t *testing.T) {
	pinned := map[string]string{
		"a b":         "a+b",
		"*-._~":       "*-._%7E",
		"dubbo://h:1": "dubbo%3A%2F%2Fh%3A1",
		"é日":          "%C3%A9%E6%97%A5",
		"😀":           "%F0%9F%98%80",
		"+%&=?#/\\":   "%2B%25%26%3D%3F%23%2F%5C",
		"":            "",
	}
	var inputs []string
	for in, want := range pinned {
		if got := DubboEncode(in); got != want {
			t.Errorf("DubboEncode(%q): got %s, want %s", in, got, want)
		}
		if got, err := DubboDecode(want); err != nil || got != in {
			t.Errorf("DubboDecode(%q): got %q, %v, want %q", want, got, err, in)
		}
		inputs = append(inputs, in)
	}
	if got, err := DubboDecode("a%2bb+c"); err != nil || got != "a+b c" {
		t.Errorf("DubboDecode(a%%2bb+c): got %q, %v", got, err)
	}
	for _, bad := range []string{"%", "%4", "%zz"} {
		if _, err := DubboDecode(bad); !errors.Is(err, ErrBadURL) {
			t.Errorf("DubboDecode(%q): got %v, want ErrBadURL", bad, err)
		}
	}

	var all strings.Builder
	for c := 0x20; c < 0x7f; c++ {
		all.WriteByte(byte(c))
	}
	inputs = append(inputs, all.String(), dubboProviderURL, "中文 接口 ü ß \u00a0 \u2028")
	replies := runJava(t, "Enc", javaURLEncoder, nil, inputs)
	for n, in := range inputs {
		enc, dec, _ := strings.Cut(replies[n], "\t")
		if got := DubboEncode(in); got != enc {
			t.Errorf("DubboEncode(%q):\n   go %s\n java %s", in, got, enc)
		}
		if got, err := DubboDecode(enc); err != nil || got != dec {
			t.Errorf("DubboDecode(%q): got %q, %v; java %q", enc, got, err, dec)
		}
	}
}

// TestDubboPaths covers roots, "*" and the category choice.
//
// Broken on purpose: DubboCategory choosing by protocol (consumer:// ->
// consumers) -> the "consumer without category" case fails with consumers,
// where Dubbo's toCategoryPath (url.getParameter("category", "providers"))
// files it under providers.
func TestDubboPaths(t *testing.T) {
	if got, want := DubboCategoryPath("", "com.foo.Svc", "providers"), "/dubbo/com.foo.Svc/providers"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if got, want := DubboCategoryPath("/mygroup", "com.foo.Svc$Inner", "routers"), "/mygroup/com.foo.Svc%24Inner/routers"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if got, want := DubboCategoryPath("dubbo", "*", "providers"), "/dubbo/providers"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	cases := []struct{ name, url, want string }{
		{"provider", "dubbo://10.0.0.5:20880/com.foo.Svc?side=provider", "providers"},
		{"consumer", "consumer://10.0.0.6/com.foo.Svc?category=consumers&side=consumer", "consumers"},
		{"consumer without category", "consumer://10.0.0.6/com.foo.Svc?side=consumer", "providers"},
		{"route", "route://0.0.0.0/com.foo.Svc?category=routers&dynamic=false", "routers"},
		{"override", "override://0.0.0.0/com.foo.Svc?category=configurators&dynamic=false", "configurators"},
		{"empty category", "dubbo://h/com.foo.Svc?category=", "providers"},
	}
	for _, c := range cases {
		u, err := ParseDubboURL(c.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := DubboCategory(u); got != c.want {
			t.Errorf("%s: DubboCategory: got %s, want %s", c.name, got, c.want)
		}
	}
	// The interface parameter wins over the path, as in getServiceInterface.
	u, _ := ParseDubboURL("consumer://10.0.0.6/com.foo.Svc2?category=consumers&interface=com.foo.Svc")
	if got, want := DubboNodePath("", u, ""), "/dubbo/com.foo.Svc/consumers/consumer%3A%2F%2F10.0.0.6%2Fcom.foo.Svc2%3Fcategory%3Dconsumers%26interface%3Dcom.foo.Svc"; got != want {
		t.Errorf("DubboNodePath:\n got %s\nwant %s", got, want)
	}
}
