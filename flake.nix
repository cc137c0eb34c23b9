{
  description = "Meridian: an actor-based distributed runtime in TypeScript on Effect";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.11";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
    in
    {
      # Node 20 and 22 are supported; CI runs on Node 20. python3, gcc and make build better-sqlite3.
      devShells = forAll (pkgs: {
        default = pkgs.mkShell {
          packages = [ pkgs.nodejs_22 pkgs.python3 pkgs.gcc pkgs.gnumake pkgs.graphviz ];
        };
      });
    };
}
