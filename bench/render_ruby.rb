# render_ruby.rb - the render benchmark on Shopify's ruby-liquid: parses TEMPLATE once (strict
# mode), then renders each context of DATA.jsonl (one per line) once, timing only the renders
# (each context is parsed just before its render, off the clock); prints "ruby-liquid: N renders
# in S s, B bytes output". The money filter is the oracle's (test/liquid/diff/oracle.rb).
# Usage: ruby render_ruby.rb TEMPLATE DATA.jsonl PARTIALS_DIR
require_relative "../test/liquid/diff/oracle"
tpl, data, partials = ARGV
Liquid::Template.file_system = Liquid::LocalFileSystem.new(partials, "%s.liquid")
t = Liquid::Template.parse(File.read(tpl), error_mode: :strict)
bytes = 0
n = 0
s = 0.0
File.foreach(data) do |l|
  c = JSON.parse(l)
  t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
  bytes += t.render!(c).bytesize
  s += Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0
  n += 1
end
puts format("ruby-liquid: %d renders in %.3f s, %d bytes output", n, s, bytes)
