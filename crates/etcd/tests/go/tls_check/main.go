// Command tls_check connects etcd's own Go client (clientv3 from etcd
// 3.4.23) to one https endpoint with a crypto/tls configuration built the
// way a Go application builds it (a CA pool from a PEM file, a client
// certificate from a PEM pair), then runs a short script: put, get, a watch
// that must see a put, and Status. It prints one JSON object per step, with
// the values the client saw.
//
// It exists for the Rust test tls.rs, which runs it against the real etcd
// and etcd-rs started with --cert-file/--key-file/--trusted-ca-file and
// --client-cert-auth. The program judges nothing itself: a failed call is
// printed like a successful one. It exits 0 once the script ran to its end,
// 2 when the TLS files could not be loaded or the client not created, and
// 3 when a call timed out (the rest of the script is skipped).
//
// Build it with ../build.sh (offline, GOPATH mode against Debian's sources).
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io/ioutil"
	"os"
	"time"

	"go.etcd.io/etcd/clientv3"
)

type fields map[string]interface{}

func main() {
	endpoint := flag.String("endpoint", "", "client URL, https://host:port")
	caFile := flag.String("cacert", "", "CA certificate (PEM) the server's certificate must chain to")
	certFile := flag.String("cert", "", "client certificate (PEM)")
	keyFile := flag.String("key", "", "client key (PEM)")
	stepTimeout := flag.Duration("step-timeout", 5*time.Second, "deadline of each call")
	flag.Parse()

	tlsConfig, err := loadTLS(*caFile, *certFile, *keyFile)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tls_check: %v\n", err)
		os.Exit(2)
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{*endpoint},
		DialTimeout: 5 * time.Second,
		TLS:         tlsConfig,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "tls_check: connect to %s: %v\n", *endpoint, err)
		os.Exit(2)
	}
	defer cli.Close()

	out := json.NewEncoder(os.Stdout)
	step := func(name string, call func(ctx context.Context) (fields, error)) {
		ctx, cancel := context.WithTimeout(context.Background(), *stepTimeout)
		defer cancel()
		rec, err := call(ctx)
		if err != nil {
			rec = fields{"error": err.Error()}
		}
		rec["step"] = name
		rec["ok"] = err == nil
		if encErr := out.Encode(rec); encErr != nil {
			fmt.Fprintf(os.Stderr, "tls_check: write: %v\n", encErr)
			os.Exit(1)
		}
		if ctx.Err() != nil {
			fmt.Fprintf(os.Stderr, "tls_check: step %s timed out; stopping\n", name)
			os.Exit(3)
		}
	}

	step("put", func(ctx context.Context) (fields, error) {
		resp, err := cli.Put(ctx, "tls/go", "over tls")
		if err != nil {
			return nil, err
		}
		return fields{"revision": resp.Header.Revision}, nil
	})
	step("get", func(ctx context.Context) (fields, error) {
		resp, err := cli.Get(ctx, "tls/go")
		if err != nil {
			return nil, err
		}
		values := []string{}
		for _, kv := range resp.Kvs {
			values = append(values, string(kv.Value))
		}
		return fields{"values": values}, nil
	})
	step("watch", func(ctx context.Context) (fields, error) {
		// WithRequireLeader makes a watch that cannot be served fail
		// instead of waiting silently; the put goes out once the watch is
		// created (its first response), so the event cannot be missed.
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		defer cancel()
		wch := cli.Watch(wctx, "tls/watched", clientv3.WithCreatedNotify())
		created := <-wch
		if err := created.Err(); err != nil {
			return nil, err
		}
		if _, err := cli.Put(ctx, "tls/watched", "seen"); err != nil {
			return nil, err
		}
		for resp := range wch {
			if err := resp.Err(); err != nil {
				return nil, err
			}
			for _, ev := range resp.Events {
				return fields{
					"type":  ev.Type.String(),
					"key":   string(ev.Kv.Key),
					"value": string(ev.Kv.Value),
				}, nil
			}
		}
		return nil, ctx.Err()
	})
	step("status", func(ctx context.Context) (fields, error) {
		resp, err := cli.Status(ctx, *endpoint)
		if err != nil {
			return nil, err
		}
		return fields{"leader_is_set": resp.Leader != 0, "member_is_set": resp.Header.MemberId != 0}, nil
	})
}

// loadTLS builds the client's TLS configuration from PEM files.
func loadTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	caPEM, err := ioutil.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("read CA: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("no certificate in %s", caFile)
	}
	config := &tls.Config{RootCAs: pool}
	if certFile != "" || keyFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("load client certificate: %v", err)
		}
		config.Certificates = []tls.Certificate{pair}
	}
	return config, nil
}
