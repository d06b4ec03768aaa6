module github.com/vpndiag/vpndiag

go 1.25
