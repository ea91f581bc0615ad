package relay

import (
	"fmt"
	"net/http"

	"github.com/consthash/consthash/pkg/admin"
)

// AdminRoutes adds the relay's own endpoints to its admin server: the
// carbon-c-relay style hash check, the server list, and addserver and
// purgeserver (mutations: the admin server asks for the token).
func (r *Relay) AdminRoutes(adm *admin.Server) {
	adm.Handle("GET /hashcheck", func(w http.ResponseWriter, req *http.Request) {
		key := req.URL.Query().Get("key")
		if key == "" {
			http.Error(w, "give ?key=<metric key>", http.StatusBadRequest)
			return
		}
		admin.WriteJSON(w, http.StatusOK, map[string]any{"key": key, "sections": r.HashCheck(key)})
	})
	adm.Handle("GET /servers", func(w http.ResponseWriter, _ *http.Request) { admin.WriteJSON(w, http.StatusOK, r.Servers()) })
	adm.HandleMutating("POST /{section}/addserver", func(w http.ResponseWriter, req *http.Request) {
		server := req.FormValue("server")
		if server == "" {
			http.Error(w, "give the form field server=<URL>", http.StatusBadRequest)
			return
		}
		if err := r.AddServer(req.PathValue("section"), server, req.FormValue("check_server"), req.FormValue("hashkey")); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "Server %s Added\n", server)
	})
	adm.HandleMutating("POST /{section}/purgeserver", func(w http.ResponseWriter, req *http.Request) {
		server := req.FormValue("server")
		if err := r.PurgeServer(req.PathValue("section"), server); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "Server %s Purged\n", server)
	})
}
