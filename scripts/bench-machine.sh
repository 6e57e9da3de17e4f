# Sourced by the bench scripts: prints the machine's facts before a run, so
# a saved output says where it was measured. $1 is the PostgreSQL client
# program whose version to print (pg_dump, pg_recvlogical).
bench_machine_facts() {
  echo "=== machine"
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "cpus: $(nproc) ($(lscpu | sed -n 's/^Model name: *//p'))"
  free -h | sed -n '1,2p'
  local client
  client=$(ls -d /usr/lib/postgresql/*/bin/"$1" | sort -V | tail -1)
  echo "client: $(${client} --version)"
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
}
