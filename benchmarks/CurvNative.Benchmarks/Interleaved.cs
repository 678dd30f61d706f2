using System.Diagnostics;

namespace CurvNative.Benchmarks;

/// <summary>
/// Times several workloads round-robin: round r calls each workload once (a workload given fewer rounds drops out
/// after them). On this VM the host's load moves medians by 20-50% between runs and even between consecutive
/// workloads of one run; interleaved, a change of load lands on every workload of a round alike, so a ratio of two
/// workloads is taken within each round and its median over the rounds is reported.
/// </summary>
internal sealed class Interleaved
{
    private readonly List<(string Name, Action Run, int Rounds)> _work = [];
    private readonly Dictionary<string, List<double>> _ms = [];
    private readonly Dictionary<string, List<double>> _gcMs = [];

    public Interleaved Add(string name, Action run, int rounds)
    {
        _work.Add((name, run, rounds));
        _ms[name] = [];
        _gcMs[name] = [];
        return this;
    }

    /// <summary>Warms every workload up (<see cref="RatioMode.Warm"/>; none for 0), then runs the rounds.</summary>
    public void Run(int warmup)
    {
        if (warmup > 0) foreach (var w in _work) RatioMode.Warm(w.Run, warmup);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        int rounds = _work.Max(w => w.Rounds);
        for (int r = 0; r < rounds; r++)
            foreach (var (name, run, count) in _work)
            {
                if (r >= count) continue;
                var pause0 = GC.GetTotalPauseDuration();
                long t0 = Stopwatch.GetTimestamp();
                run();
                _ms[name].Add(Stopwatch.GetElapsedTime(t0).TotalMilliseconds);
                _gcMs[name].Add((GC.GetTotalPauseDuration() - pause0).TotalMilliseconds);
            }
        foreach (var w in _work)
            Console.Error.WriteLine($"interleaved: {w.Name} median {Median(w.Name):F2} ms over {_ms[w.Name].Count} rounds "
                + $"(rounds {string.Join(" ", _ms[w.Name].Select(m => m.ToString("F1")))}; GC pauses {string.Join(" ", _gcMs[w.Name].Select(m => m.ToString("F1")))} ms)");
    }

    /// <summary>The median time of one call, in ms.</summary>
    public double Median(string name) => RatioMode.Median(_ms[name].Order().ToList());

    /// <summary>The median over the rounds that ran all of <paramref name="names"/> of <paramref name="perRound"/>
    /// applied to their times in that round (in the order of <paramref name="names"/>).</summary>
    public double MedianOfRounds(string[] names, Func<double[], double> perRound)
    {
        int rounds = names.Min(n => _ms[n].Count);
        var values = new List<double>(rounds);
        for (int r = 0; r < rounds; r++) values.Add(perRound(names.Select(n => _ms[n][r]).ToArray()));
        return RatioMode.Median(values.Order().ToList());
    }
}
