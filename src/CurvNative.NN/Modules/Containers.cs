using System.Numerics;
using CurvNative.Autodiff;

namespace CurvNative.NN.Modules;

/// <summary>Layers applied in order; child names are their indices ("0", "1", ...) as in nn.Sequential.</summary>
public sealed class Sequential<T>(params Module<T>[] layers) : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public IReadOnlyList<Module<T>> Layers { get; } = layers;

    public override IEnumerable<(string Name, Module<T> Module)> Children()
        => Layers.Select((m, i) => (i.ToString(System.Globalization.CultureInfo.InvariantCulture), m));

    protected override Var<T> ForwardCore(Var<T> x)
    {
        foreach (var layer in Layers) x = layer.Forward(x);
        return x;
    }

    public override string ToString() => "Sequential(" + string.Join(", ", Layers) + ")";
}

/// <summary>A residual block: x + body(x), with an optional projection on the skip path.</summary>
public sealed class Residual<T>(Module<T> body, Module<T>? shortcut = null) : Module<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public Module<T> Body { get; } = body;
    public Module<T>? Shortcut { get; } = shortcut;

    public override IEnumerable<(string Name, Module<T> Module)> Children()
        => Shortcut is null ? [("body", Body)] : [("body", Body), ("shortcut", Shortcut)];

    protected override Var<T> ForwardCore(Var<T> x) => F.Add(Body.Forward(x), Shortcut is null ? x : Shortcut.Forward(x));
}
