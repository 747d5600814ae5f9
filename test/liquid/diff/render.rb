# render.rb - oracle side of the differential test: renders one case with
# Shopify's ruby-liquid (strict parse mode, render! so errors raise) and
# prints the output, or "ERROR" on any Liquid error.
# Usage: TZ=UTC ruby render.rb TEMPLATE DATA_JSON PARTIALS_DIR
require_relative "oracle"
tpl, data, partials = ARGV
Liquid::Template.file_system = Liquid::LocalFileSystem.new(partials, "%s.liquid")
begin
  t = Liquid::Template.parse(File.read(tpl), error_mode: :strict)
  ctx = data && File.exist?(data) ? JSON.parse(File.read(data)) : {}
  $stdout.write(t.render!(ctx))
rescue Liquid::Error, ZeroDivisionError => e
  $stdout.write("ERROR")
  $stderr.puts e.message
end
