module syncscope/mapbench

go 1.19
