using System.Diagnostics;
using System.Globalization;
using CurvNative.Distributed;
using CurvNative.NN.Data;
using CurvNative.NN.Losses;
using CurvNative.Operators.Curvature;
using CurvNative.Operators.Curvature.Kfac;
using CurvNative.Threading;

namespace CurvNative.Benchmarks;

/// <summary>
/// <c>mpiexec -n K dotnet CurvNative.Benchmarks.dll mpi [--samples N] [--rounds R] [--threads T]</c> (or without
/// mpiexec for one process): the benchmark MLP 784-256-256-10 over N synthetic samples (default 16,384; every rank
/// draws the same set and takes its contiguous shard), batches of 256, T threads per rank (default 1). Times, as the
/// slowest rank sees them between barriers, a GGN-vector product and a KFAC construction (MC Fisher), and the
/// allreduce of each one's message alone (P doubles; the KFAC factors' elements as doubles), so that a cluster's time
/// can be modelled from compute and message size. Rank 0 prints one JSON line; <c>benchmarks/mpi.sh</c> turns the
/// runs for K = 1, 2 into <c>benchmarks/results/mpi.md</c>.
/// </summary>
internal static class MpiMode
{
    public static int Run(string[] args)
    {
        var rest = new List<string>(args.Skip(1));
        int samples = Program.TakeOption(rest, "--samples") ?? 16384;
        int rounds = Program.TakeOption(rest, "--rounds") ?? 5;
        int threads = Program.TakeOption(rest, "--threads") ?? 1;
        ThreadSettings.Set(threads);
        Communicator comm = MpiCommunicator.LaunchedWithSeveralProcesses ? MpiCommunicator.World : Communicator.Single;

        var w = GradientWorkload.Mlp();
        var rng = new Random(11);
        var data = new DataSet<float>(Workloads.RandomNormal(rng, samples, 784), Targets<float>.FromClasses(Workloads.RandomClasses(rng, samples, 10)));
        var loss = new CrossEntropyLoss<float>();
        var ggn = new GgnOperator<float>(w.Model, loss, data, new CurvatureOptions { BatchSize = 256, CheckDeterministic = false, Communicator = comm });
        var v = Workloads.RandomNormal(new Random(5), ggn.Columns);
        var kfacOptions = new KfacOptions { FisherType = FisherType.MonteCarlo, BatchSize = 256, CheckDeterministic = false, Communicator = comm };
        // What KFAC's allreduce sends: the upper triangles of G (out x out) and A ((in + 1) x (in + 1), bias joint).
        static long Triangle(long n) => n * (n + 1) / 2;
        long factorElements = w.Model.Parameters().Where(p => p.Value.Rank == 2)
            .Sum(p => Triangle(p.Value.Shape[0]) + Triangle(p.Value.Shape[1] + 1));
        var ggnMessage = new double[ggn.Columns];
        var kfacMessage = new double[factorElements];

        var own = new List<double>();
        double Time(Action run)
        {
            own.Clear();
            // Warm-up until tiered compilation is done on every rank (its background JIT competes for the cores).
            RatioMode.Warm(run, 3, comm.AllAgree);
            var times = new List<double>();
            for (int r = 0; r < rounds; r++)
            {
                comm.AllAgree(true);
                long t0 = Stopwatch.GetTimestamp();
                run();
                own.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                comm.AllAgree(true);
                times.Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
            }
            return RatioMode.Median(times.Order().ToList());
        }

        long allocated = GC.GetTotalAllocatedBytes(precise: true);
        int collections = GC.CollectionCount(0);
        double ggnMs = Time(() => ggn.MatVec(v));
        if (Environment.GetEnvironmentVariable("CURVNATIVE_MPI_BENCH_VERBOSE") is not null)
            Console.Error.WriteLine($"rank {comm.Rank}: {(GC.GetTotalAllocatedBytes(precise: true) - allocated) / 1e6 / (rounds + 1):F0} MB allocated and {(GC.CollectionCount(0) - collections) / (double)(rounds + 1):F1} GCs per GGN product");
        if (Environment.GetEnvironmentVariable("CURVNATIVE_MPI_BENCH_VERBOSE") is not null)
            Console.Error.WriteLine($"rank {comm.Rank}: own GGN times {string.Join(" ", own.Select(t => t.ToString("F0", CultureInfo.InvariantCulture)))}");
        double kfacMs = Time(() => _ = new KfacOperator<float>(w.Model, loss, data, kfacOptions));
        double ggnReduceMs = Time(() => comm.AllReduceSum(ggnMessage));
        double kfacReduceMs = Time(() => comm.AllReduceSum(kfacMessage));
        if (comm.IsRoot)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{{\"processes\": {comm.Size}, \"threads\": {threads}, \"samples\": {samples}, \"rounds\": {rounds}, " +
                $"\"ggn_matvec_ms\": {ggnMs:F2}, \"kfac_ms\": {kfacMs:F2}, " +
                $"\"ggn_allreduce_ms\": {ggnReduceMs:F3}, \"ggn_message_bytes\": {ggnMessage.Length * 8L}, " +
                $"\"kfac_allreduce_ms\": {kfacReduceMs:F3}, \"kfac_message_bytes\": {kfacMessage.Length * 8L}}}"));
        if (comm is MpiCommunicator mpi) mpi.Shutdown();
        return 0;
    }
}
