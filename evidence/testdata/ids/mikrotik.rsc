# RouterOS 7.12 export
/ip ipsec profile
add dh-group=modp2048 enc-algorithm=aes-256 hash-algorithm=sha256 lifetime=8h name=cloud-ike
/ip ipsec peer
add address=203.0.113.10/32 exchange-mode=ike2 local-address=198.51.100.2 name=cloud-peer profile=cloud-ike
/ip ipsec proposal
add auth-algorithms=sha256 enc-algorithms=aes-256-cbc lifetime=1h name=cloud-esp pfs-group=modp2048
/ip ipsec identity
add peer=cloud-peer secret=placeholder my-id=fqdn:branch.example.org remote-id=address:198.18.0.9
/ip ipsec policy
add dst-address=10.0.0.0/8 peer=cloud-peer proposal=cloud-esp src-address=10.20.0.0/16 tunnel=yes
