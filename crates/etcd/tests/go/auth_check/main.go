// Command auth_check logs etcd's own Go client (clientv3 from etcd 3.4.23)
// in through clientv3.Config's Username and Password, the way a Go
// application does, against one endpoint of a server with auth enabled:
// as root it puts and gets a key; as a restricted user it reads that key
// (inside its permission) and is refused a put and a get outside it; a
// wrong password fails the login itself. It prints one JSON object per
// step with what the client saw, and for a failed call its error text and
// gRPC code.
//
// It exists for the Rust test go_clientv3.rs, which sets the users up
// (root, and a user whose role may read and write the prefix /app/), runs
// this against the real etcd and etcd-rs, and checks the transcript. The
// program judges nothing itself: a failed call is printed like a
// successful one. It exits 0 once the script ran to its end, 2 when the
// root client could not be created, and 3 when a call timed out (the rest
// of the script is skipped).
//
// Build it with ../build.sh OUTPUT auth_check.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"go.etcd.io/etcd/clientv3"
	"go.etcd.io/etcd/etcdserver/api/v3rpc/rpctypes"
	"google.golang.org/grpc/status"
)

type fields map[string]interface{}

func main() {
	endpoint := flag.String("endpoint", "127.0.0.1:2379", "client endpoint, host:port")
	rootPassword := flag.String("root-password", "", "password of user root")
	user := flag.String("user", "", "the restricted user")
	password := flag.String("password", "", "its password")
	stepTimeout := flag.Duration("step-timeout", 5*time.Second, "deadline of each call")
	flag.Parse()

	connect := func(user, password string) (*clientv3.Client, error) {
		return clientv3.New(clientv3.Config{
			Endpoints:   []string{*endpoint},
			DialTimeout: 5 * time.Second,
			Username:    user,
			Password:    password,
		})
	}
	root, err := connect("root", *rootPassword)
	if err != nil {
		fmt.Fprintf(os.Stderr, "auth_check: connect to %s as root: %v\n", *endpoint, err)
		os.Exit(2)
	}
	defer root.Close()

	out := json.NewEncoder(os.Stdout)
	step := func(name string, call func(ctx context.Context) (fields, error)) {
		ctx, cancel := context.WithTimeout(context.Background(), *stepTimeout)
		defer cancel()
		rec, err := call(ctx)
		if err != nil {
			rec = errorFields(err)
		}
		rec["step"] = name
		rec["ok"] = err == nil
		if encErr := out.Encode(rec); encErr != nil {
			fmt.Fprintf(os.Stderr, "auth_check: write: %v\n", encErr)
			os.Exit(1)
		}
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			fmt.Fprintf(os.Stderr, "auth_check: step %s timed out; stopping\n", name)
			os.Exit(3)
		}
	}
	put := func(cli **clientv3.Client, key, value string) func(context.Context) (fields, error) {
		return func(ctx context.Context) (fields, error) {
			resp, err := (*cli).Put(ctx, key, value)
			if err != nil {
				return nil, err
			}
			return fields{"revision": resp.Header.Revision}, nil
		}
	}
	get := func(cli **clientv3.Client, key string) func(context.Context) (fields, error) {
		return func(ctx context.Context) (fields, error) {
			resp, err := (*cli).Get(ctx, key)
			if err != nil {
				return nil, err
			}
			values := []string{}
			for _, kv := range resp.Kvs {
				values = append(values, string(kv.Value))
			}
			return fields{"values": values}, nil
		}
	}

	step("root_put", put(&root, "/app/go", "from go"))
	step("root_get", get(&root, "/app/go"))
	step("root_put_outside", put(&root, "/other", "root's"))

	var restricted *clientv3.Client
	step("user_connect", func(context.Context) (fields, error) {
		cli, err := connect(*user, *password)
		if err != nil {
			return nil, err
		}
		restricted = cli
		return fields{}, nil
	})
	if restricted == nil {
		return
	}
	defer restricted.Close()
	step("user_get", get(&restricted, "/app/go"))
	step("user_put", put(&restricted, "/app/go", "from the user"))
	step("user_put_denied", put(&restricted, "/other", "x"))
	step("user_get_denied", get(&restricted, "/other"))

	step("wrong_password_connect", func(context.Context) (fields, error) {
		cli, err := connect(*user, "wrong")
		if err != nil {
			return nil, err
		}
		cli.Close()
		return fields{}, nil
	})
}

// errorFields records what a Go application can learn from a failed call:
// clientv3 turns a status whose message it knows into rpctypes.EtcdError,
// which carries the code; anything else stays a gRPC status error.
func errorFields(err error) fields {
	rec := fields{"error": err.Error(), "code": nil}
	var etcdErr rpctypes.EtcdError
	if errors.As(err, &etcdErr) {
		rec["code"] = etcdErr.Code().String()
	} else if st, ok := status.FromError(err); ok {
		rec["code"] = st.Code().String()
	}
	return rec
}
