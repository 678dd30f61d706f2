using System.Numerics;
using CurvNative.Tensors;

namespace CurvNative.Autodiff.Taylor;

/// <summary>The output jet of a Taylor sweep and what the sweep held.</summary>
/// <param name="Output">The jet of the output variable.</param>
/// <param name="MaxVectors">The largest number of vectors per point any jet of the sweep held (value, R per stacked
/// coefficient, 1 per collapsed one): 2 + D for the exact collapsed Laplacian, 1 + 2D for standard Taylor mode.</param>
public sealed record TaylorResult<T>(Jet<T> Output, int MaxVectors) where T : unmanaged, IFloatingPointIeee754<T>;

/// <summary>
/// Forward Taylor mode over a recorded graph: seeds the input with a jet along the given directions and applies each
/// node's <see cref="Primitive{T}.Taylor"/> rule in creation (topological) order. Nodes that do not depend on the input
/// are constants of the sweep. The rules use differentiable operations, so when recording is on the output jet is part
/// of the autodiff graph, differentiable with respect to every parameter of the traced function.
/// </summary>
public static class TaylorSweep
{
    /// <summary>
    /// Propagates the jet x(t) = x + t v_r (first coefficient v_r, higher ones zero) from <paramref name="input"/> to
    /// <paramref name="output"/>. <paramref name="directions"/> is [R, ...input shape] (a direction per point when the
    /// input has a batch axis), or the B basis directions [B, ...input shape] for a spec sharing the first order. The
    /// graph from input to output must have been recorded (the input requires gradients).
    /// </summary>
    /// <exception cref="NotSupportedException">A primitive on the path has no Taylor rule (the message names it).</exception>
    public static TaylorResult<T> Run<T>(Var<T> input, Var<T> output, Tensor<T> directions, JetSpec<T> spec) where T : unmanaged, IFloatingPointIeee754<T>
    {
        int items = spec.Items(1);
        if (directions.Rank != input.Rank + 1 || directions.Shape[0] != items || !directions.Shape[1..].SequenceEqual(input.Shape))
            throw new ArgumentException($"Directions must be [{items}, {string.Join(", ", input.Value.ShapeArray)}] ({(spec.FirstOrderMap is null ? "R" : "B basis directions")} times the input's shape), got {Shape.Format(directions.Shape)}.");
        var seedCoefficients = new Var<T>?[spec.Order];
        var v = Var<T>.Constant(directions);
        // Order 1 collapsed: the only coefficient is the collapsed one.
        seedCoefficients[0] = spec.IsCollapsed(1) ? TaylorRules.Collapse(spec, v) : v;
        // Collapsed second order is packed from the start ([z_1; c_2] in one stack): linear layers map it with one GEMM
        // and activations with one fused node.
        var seed = spec.Collapsed && spec.Order == 2
            ? new Jet<T>(spec, input, v, [spec.Items(1), 0])
            : new Jet<T>(spec, input, seedCoefficients);
        if (ReferenceEquals(input, output)) return new TaylorResult<T>(seed, seed.Vectors);
        if (output.Creator is null)
            throw new ArgumentException("The output was not computed from the input with recording on: trace the function with an input that requires gradients.");

        var jets = new Dictionary<Var<T>, Jet<T>>(ReferenceEqualityComparer.Instance) { [input] = seed };
        int maxVectors = seed.Vectors;
        var nodes = Autograd.CollectNodes([output]);
        nodes.Sort((a, b) => a.Sequence.CompareTo(b.Sequence));
        // Not recording, inside a tensor pool: a coefficient buffer no live jet references any more goes back to the
        // pool, so the next layer's stacks reuse it instead of fresh pages (a values-only sweep of a wide MLP allocates
        // hundreds of MiB otherwise). Buffers are counted per jet, views included; the seed's and the output's stay.
        var pool = GradMode.IsEnabled ? null : TensorPool<T>.Current;
        var held = pool is null ? null : new Dictionary<T[], int>(ReferenceEqualityComparer.Instance);
        // The seed's buffers (the caller's directions, which views in later jets may alias) are held for good.
        if (held is not null) foreach (var b in Buffers(seed).Keys) held[b] = 1;
        var lastUse = new Dictionary<Var<T>, int>(ReferenceEqualityComparer.Instance);
        for (int n = 0; n < nodes.Count; n++)
            foreach (var i in nodes[n].Inputs) lastUse[i] = n;
        for (int n = 0; n < nodes.Count; n++)
        {
            var node = nodes[n];
            Jet<T>?[]? inputs = null;
            for (int i = 0; i < node.Inputs.Length; i++)
                if (jets.TryGetValue(node.Inputs[i], out var j)) (inputs ??= new Jet<T>?[node.Inputs.Length])[i] = j;
            if (inputs is null) continue;
            var jet = node.Primitive.Taylor(node, inputs);
            if (!ReferenceEquals(jet.Spec, spec) || !ReferenceEquals(jet.Value, node.Output))
                throw new InvalidOperationException($"The Taylor rule of {node.Primitive.Name} returned a jet of another sweep or value.");
            jets[node.Output] = jet;
            maxVectors = Math.Max(maxVectors, jet.Vectors);
            if (held is not null) foreach (var b in Buffers(jet).Keys) held[b] = held.GetValueOrDefault(b) + 1;
            // A jet is dropped after its last consumer, so a non-recording sweep holds the live frontier only.
            foreach (var i in node.Inputs)
            {
                if (lastUse[i] != n || ReferenceEquals(i, output) || !jets.Remove(i, out var dead) || held is null || ReferenceEquals(i, input)) continue;
                foreach (var (b, t) in Buffers(dead))
                {
                    // A coefficient materialized after the jet was counted may live in a buffer of its own: not counted, kept.
                    if (!held.TryGetValue(b, out int count)) continue;
                    if (count > 1) held[b] = count - 1;
                    else { held.Remove(b); pool!.Return(t); }
                }
            }
        }
        if (!jets.TryGetValue(output, out var result))
            throw new ArgumentException("The output does not depend on the input.");
        return new TaylorResult<T>(result, maxVectors);
    }

    /// <summary>The distinct buffers a jet's coefficients live in (with one tensor of each, to return it by).</summary>
    private static Dictionary<T[], Tensor<T>> Buffers<T>(Jet<T> jet) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var buffers = new Dictionary<T[], Tensor<T>>(ReferenceEqualityComparer.Instance);
        if (jet.Packed is { } p) buffers.TryAdd(p.Stack.Value.Buffer, p.Stack.Value);
        for (int k = 1; k <= jet.Spec.Order; k++)
            if (jet.Materialized(k) is { } c) buffers.TryAdd(c.Value.Buffer, c.Value);
        return buffers;
    }
}
